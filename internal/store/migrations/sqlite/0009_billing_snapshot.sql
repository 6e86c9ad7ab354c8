-- The billing snapshot (entitlement.Billing as JSON) the last sync read from Stripe, so that a page
-- can show what one Stripe customer bought without showing what others with the same email bought.
ALTER TABLE people ADD COLUMN billing TEXT NOT NULL DEFAULT '';
