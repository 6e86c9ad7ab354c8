-- Reserved for the status tables; filled in by that work.
SELECT 1;
