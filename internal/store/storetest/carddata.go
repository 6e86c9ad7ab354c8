package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// CardData returns where a stored payload holds card data, one finding each ("$.data.object.card.number:
// a key that holds card data"), or nil. It looks for a primary account number (a run of 13 to 19
// digits, single spaces or dashes between groups allowed, that passes the Luhn check and is not part
// of a longer word such as an id), a card verification code (a key named cvc, cvv, cvc2, cvv2 or
// security_code), and a "number" key in a card object (under a "card" key, or with "object":
// "card"). A payload that is not JSON is searched as text for a PAN.
func CardData(payload []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		if pan := findPAN(string(payload)); pan != "" {
			return []string{"text: a card number (" + maskPAN(pan) + ")"}
		}
		return nil
	}
	var out []string
	walkCard(v, "$", false, &out)
	return out
}

var cvcKeys = map[string]bool{"cvc": true, "cvv": true, "cvc2": true, "cvv2": true, "cvn": true, "security_code": true, "card_cvc": true}

func walkCard(v any, path string, inCard bool, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		card := inCard || x["object"] == "card"
		for k, c := range x {
			p := path + "." + k
			lk := strings.ToLower(k)
			switch {
			case cvcKeys[lk]:
				*out = append(*out, p+": a card verification code key")
			case card && lk == "number":
				*out = append(*out, p+": a card number key in a card object")
			}
			walkCard(c, p, lk == "card" || lk == "card_details", out)
		}
	case []any:
		for i, c := range x {
			walkCard(c, fmt.Sprintf("%s[%d]", path, i), inCard, out)
		}
	case string:
		if pan := findPAN(x); pan != "" {
			*out = append(*out, path+": a card number ("+maskPAN(pan)+")")
		}
	case json.Number:
		if pan := findPAN(x.String()); pan != "" {
			*out = append(*out, path+": a card number ("+maskPAN(pan)+")")
		}
	}
}

// findPAN returns the first Luhn-valid run of 13 to 19 digits in s (groups may be separated by one
// space or dash) that no letter, digit or underscore touches, or "".
func findPAN(s string) string {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || i > 0 && isWord(s[i-1]) {
			continue
		}
		var digits []byte
		j := i
		for j < len(s) {
			switch {
			case isDigit(s[j]):
				digits = append(digits, s[j])
				j++
				continue
			case (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) && len(digits) > 0:
				j++
				continue
			}
			break
		}
		if (j == len(s) || !isWord(s[j])) && len(digits) >= 13 && len(digits) <= 19 && luhn(digits) {
			return string(digits)
		}
		i = j
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWord(c byte) bool {
	return isDigit(c) || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// luhn reports whether digits pass the Luhn check every card number passes.
func luhn(digits []byte) bool {
	sum := 0
	for i := range digits {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// maskPAN shows what a finding needs to be checked, never the number: its length and last four.
func maskPAN(pan string) string {
	return fmt.Sprintf("%d digits ending %s", len(pan), pan[len(pan)-4:])
}
