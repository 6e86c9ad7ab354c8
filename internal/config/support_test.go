package config

import (
	"strings"
	"testing"
)

func TestValidateSupport(t *testing.T) {
	tests := []struct {
		name string
		s    Support
		want string // a fragment of the one problem, "" for none
	}{
		{"defaults", Support{SpikeFactor: DefaultSupportSpikeFactor}, ""},
		{"custom rules", Support{SpikeFactor: 3, Baseline: 40, Rules: SupportRules{Access: []string{"paid & locked", "sin entrar*"}}}, ""},
		{"factor below 1", Support{SpikeFactor: 0.5}, "support.spike_factor"},
		{"negative baseline", Support{SpikeFactor: 2, Baseline: -1}, "support.baseline"},
		{"empty phrase", Support{SpikeFactor: 2, Rules: SupportRules{Billing: []string{" * "}}}, "support.rules.billing[0]: the phrase is empty"},
		{"empty part", Support{SpikeFactor: 2, Rules: SupportRules{Refund: []string{"money & "}}}, "support.rules.refund[0]"},
		{"replace with nothing", Support{SpikeFactor: 2, Rules: SupportRules{ReplaceDefaults: true}}, "replace_defaults"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Support: tt.s}
			var p Problems
			c.validateSupport(&p)
			switch {
			case tt.want == "" && len(p) != 0:
				t.Errorf("problems %q, want none", p)
			case tt.want != "" && (len(p) != 1 || !strings.Contains(p[0], tt.want)):
				t.Errorf("problems %q, want one naming %q", p, tt.want)
			}
		})
	}
	c := &Config{}
	c.defaultSupport()
	if c.Support.SpikeFactor != DefaultSupportSpikeFactor {
		t.Errorf("default spike factor %v", c.Support.SpikeFactor)
	}
}
