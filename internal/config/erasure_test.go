package config

import (
	"bytes"
	"crypto/sha256"
	"os"
	"strings"
	"testing"
)

// TestErasureExample: the example config's erasure section, uncommented, parses; the default is off.
func TestErasureExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../membersync.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	c, err := Parse(b, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Erasure.OnCustomerDeleted {
		t.Error("erasure.on_customer_deleted is on by default")
	}
	i := strings.Index(text, "# erasure:\n")
	if i < 0 {
		t.Fatal("the example config has no erasure section")
	}
	var section []string
	for _, line := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(line, "# ") {
			break
		}
		line = strings.TrimPrefix(line, "# ")
		section = append(section, strings.Replace(line, "false", "true", 1))
	}
	c, err = Parse([]byte(text+"\n"+strings.Join(section, "\n")+"\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Erasure.OnCustomerDeleted {
		t.Errorf("example erasure section, switched on, reads as %+v", c.Erasure)
	}
}

// TestErasureKey: the tombstones' key follows the signing key and differs from the log-hash key.
func TestErasureKey(t *testing.T) {
	a, b := Secrets{SigningKey: "one-signing-key-0123456789abcdef"}, Secrets{SigningKey: "two-signing-key-0123456789abcdef"}
	if bytes.Equal(a.ErasureKey(), b.ErasureKey()) || len(a.ErasureKey()) != 32 {
		t.Errorf("keys of two signing keys: %x, %x", a.ErasureKey(), b.ErasureKey())
	}
	logKey := sha256.Sum256([]byte("membersync-log-hash:" + a.SigningKey))
	if bytes.Equal(a.ErasureKey(), logKey[:]) {
		t.Error("the erasure key is the log-hash key")
	}
}
