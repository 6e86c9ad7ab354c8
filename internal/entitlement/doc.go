// Package entitlement owns the rule that turns billing into access: given one person's Stripe billing
// snapshot (every customer with their normalized email), the plan mapping from the config and the clock,
// Compute says which plans the person is entitled to, at which lifecycle stage, which Circle access groups
// and Kit tags and sequences follow, when the answer next changes by the clock alone, and what needs a
// human look. The package does no I/O and reads no clock: the same input always gives the same output.
package entitlement
