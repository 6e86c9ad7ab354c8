-- Reserved for the drift tables; filled in by that work.
SELECT 1;
