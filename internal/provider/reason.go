package provider

import (
	"errors"
	"fmt"
	"strings"
)

// Reason words err for an operator's tile, in a few words and safe to show: a provider's answer as
// "Circle said 401 (list_members): Unauthorized", a request that got no answer as "Circle did not
// answer (list_members): transient", any other error as Explain's message. "" when err is nil.
func Reason(err error) string {
	var pe *Error
	if !errors.As(err, &pe) {
		_, msg := Explain(err)
		return msg
	}
	name := pe.Provider
	if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	var s string
	if pe.Status != 0 {
		s = fmt.Sprintf("%s said %d (%s)", name, pe.Status, pe.Operation)
	} else {
		s = fmt.Sprintf("%s did not answer (%s): %s", name, pe.Operation, pe.Kind)
	}
	if pe.Message != "" {
		s += ": " + pe.Message
	}
	return s
}
