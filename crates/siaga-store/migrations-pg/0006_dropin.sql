-- The Digiflazz drop-in (SPEC 5.1): each reseller's key for Digiflazz's md5 signs (sealed
-- like the webhook secret; NULL for resellers from before, until their keys are rotated),
-- and the format of its callbacks.
ALTER TABLE resellers ADD COLUMN digiflazz_key TEXT;
ALTER TABLE resellers ADD COLUMN callback_format TEXT NOT NULL DEFAULT 'standard'
    CHECK (callback_format IN ('standard', 'digiflazz'));
