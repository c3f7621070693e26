SELECT symbol, sector FROM market.stocks ORDER BY symbol
