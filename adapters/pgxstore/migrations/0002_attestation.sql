-- Hardware key attestation (docs/attestation.md). credentials.attestation is
-- the JSON the root package owns, NULL for a credential nothing attested (as
-- every credential made before this migration); challenges.attestation_required
-- is the attestation the answering credential must meet, '' for none.

ALTER TABLE credentials ADD COLUMN attestation bytea;

ALTER TABLE challenges ADD COLUMN attestation_required text NOT NULL DEFAULT '';
