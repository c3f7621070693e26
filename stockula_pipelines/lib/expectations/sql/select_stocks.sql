-- Reference data has no window: the whole (small) table is one batch.
SELECT symbol, name, sector, market_cap FROM market.stocks
