-- Reserved for the alerts tables; filled in by that work.
SELECT 1;
