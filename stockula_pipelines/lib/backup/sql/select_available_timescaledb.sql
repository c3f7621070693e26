-- Versions of the extension this server can create: a restore needs the backup's exact version.
SELECT version FROM pg_available_extension_versions WHERE name = 'timescaledb' ORDER BY version
