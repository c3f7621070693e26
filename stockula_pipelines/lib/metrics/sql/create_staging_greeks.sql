CREATE TEMP TABLE staging_greeks (
  contract_symbol text NOT NULL,
  time timestamptz NOT NULL,
  implied_volatility double precision,
  delta double precision,
  gamma double precision,
  theta double precision,
  vega double precision,
  rho double precision,
  greeks_status text NOT NULL
) ON COMMIT DROP
