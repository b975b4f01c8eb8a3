-- Who did what (docs/security.md): the name of the API token behind each state change an
-- operator makes. '' where no token named the caller (authentication off) or for rows older
-- than this migration. Runs from webhooks and schedules name their source ("github:push",
-- "schedule:nightly").
ALTER TABLE runs ADD COLUMN submitted_by text NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN cancelled_by text NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN drained_by text NOT NULL DEFAULT '';
ALTER TABLE change_points ADD COLUMN triaged_by text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN triaged_by text NOT NULL DEFAULT '';
