-- Whether a change point's metric gates its job (analysis.gate, docs/analysis.md): only those
-- are bisected automatically; the others are shown, and bisected when someone asks.
ALTER TABLE change_points ADD COLUMN gating boolean NOT NULL DEFAULT true;
