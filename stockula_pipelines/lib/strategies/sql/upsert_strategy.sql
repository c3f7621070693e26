-- One row per strategy version; re-running with the same catalogue changes only the description.
INSERT INTO analytics.strategies (name, version, kind, description, parameters, universe, commission_bps, slippage_bps)
VALUES (%(name)s, %(version)s, %(kind)s, %(description)s, %(parameters)s, %(universe)s, %(commission_bps)s, %(slippage_bps)s)
ON CONFLICT (name, version) DO UPDATE
  SET description = EXCLUDED.description, updated_at = now()
  WHERE analytics.strategies.description IS DISTINCT FROM EXCLUDED.description
RETURNING strategy_id
