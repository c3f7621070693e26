CREATE TABLE {relation} AS
{body}
