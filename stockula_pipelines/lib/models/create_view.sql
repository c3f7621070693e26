CREATE OR REPLACE VIEW {relation} AS
{body}
