"""The primitive tables: one entry per elementwise or matrix function (:mod:`.functions`),
and the Greek letters every notation spells (:mod:`.greek`)."""
