SET LOCAL ROLE stockula_owner;

CREATE TABLE market.options_calls (
  time                      timestamptz NOT NULL,
  snapshot_date             date NOT NULL,
  symbol                    text NOT NULL,
  contract_symbol           text NOT NULL,
  expiration_date           date NOT NULL,
  strike                    double precision NOT NULL CHECK (strike > 0),
  last_price                double precision,
  bid                       double precision CHECK (bid IS NULL OR bid >= 0),
  ask                       double precision CHECK (ask IS NULL OR ask >= 0),
  volume                    bigint CHECK (volume IS NULL OR volume >= 0),
  open_interest             bigint CHECK (open_interest IS NULL OR open_interest >= 0),
  source_implied_volatility double precision,
  in_the_money              boolean,
  underlying_price          double precision,
  implied_volatility        double precision,
  delta                     double precision,
  gamma                     double precision,
  theta                     double precision,
  vega                      double precision,
  rho                       double precision,
  greeks_status             text,
  source                    text NOT NULL,
  loaded_at                 timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT options_calls_pkey PRIMARY KEY (contract_symbol, time)
);
-- One daily snapshot of the default universe is ~10k rows per side: a week per chunk.
SELECT create_hypertable('market.options_calls', by_range('time', INTERVAL '7 days'),
                         create_default_indexes => false);
CREATE INDEX options_calls_symbol_time_idx ON market.options_calls (symbol, time DESC, expiration_date, strike);

CREATE TABLE market.options_puts (LIKE market.options_calls INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS);
ALTER TABLE market.options_puts ADD CONSTRAINT options_puts_pkey PRIMARY KEY (contract_symbol, time);
SELECT create_hypertable('market.options_puts', by_range('time', INTERVAL '7 days'),
                         create_default_indexes => false);
CREATE INDEX options_puts_symbol_time_idx ON market.options_puts (symbol, time DESC, expiration_date, strike);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['options_calls', 'options_puts'] LOOP
    EXECUTE format('COMMENT ON TABLE market.%I IS %L', t,
      'Option chain snapshots: one row per contract per snapshot time (the session close).');
    EXECUTE format('COMMENT ON COLUMN market.%I.time IS %L', t, 'Snapshot time (UTC): the exchange close of snapshot_date.');
    EXECUTE format('COMMENT ON COLUMN market.%I.source_implied_volatility IS %L', t, 'Implied volatility as reported by the source (annualised, 0.25 = 25 %).');
    EXECUTE format('COMMENT ON COLUMN market.%I.implied_volatility IS %L', t, 'Implied volatility solved by Black-Scholes-Merton from the mid price (annualised, 0.25 = 25 %); NULL when no solution, see greeks_status.');
    EXECUTE format('COMMENT ON COLUMN market.%I.delta IS %L', t, 'dV/dS per 1.00 of underlying (calls 0..1, puts -1..0).');
    EXECUTE format('COMMENT ON COLUMN market.%I.gamma IS %L', t, 'd2V/dS2 per 1.00 of underlying.');
    EXECUTE format('COMMENT ON COLUMN market.%I.theta IS %L', t, 'dV/dt per YEAR of calendar time (divide by 365 for per day).');
    EXECUTE format('COMMENT ON COLUMN market.%I.vega IS %L', t, 'dV/dsigma per 1.00 change of volatility (divide by 100 for per vol point).');
    EXECUTE format('COMMENT ON COLUMN market.%I.rho IS %L', t, 'dV/dr per 1.00 change of the risk-free rate (divide by 100 for per percentage point).');
    EXECUTE format('COMMENT ON COLUMN market.%I.greeks_status IS %L', t, 'ok, or why the Greeks are NULL (expired, below_intrinsic, no_quote, ...).');
  END LOOP;
END
$$;
