-- A registration token minted while the user had no credential enrols only
-- while the user still has none. Tokens of the previous release read as false.
ALTER TABLE registration_tokens ADD COLUMN first_device boolean NOT NULL DEFAULT false;
