-- Reserved for the admin tables; filled in by that work.
SELECT 1;
