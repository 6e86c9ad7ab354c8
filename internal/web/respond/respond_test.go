package respond

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteError(t *testing.T) {
	t.Parallel()
	notFound := NewError(http.StatusNotFound, "not_found", "Nothing here <yet>.")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string // a prefix of the body
		wantLog    bool
	}{
		{"error", notFound, 404, `{"error":"not_found","message":"Nothing here \u003cyet\u003e."}` + "\n", false},
		{"wrapped", fmt.Errorf("loading: %w", notFound), 404, `{"error":"not_found","message":"Nothing here \u003cyet\u003e."}` + "\n", false},
		{"other", errors.New("sql: database is closed"), 500, `{"error":"internal","message":"Something went wrong. The server log has the details under reference `, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			w := httptest.NewRecorder()
			WriteError(w, httptest.NewRequest("GET", "/x?q=1", nil), slog.New(slog.NewTextHandler(&logs, nil)), tt.err)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Body.String(); !strings.HasPrefix(got, tt.wantBody) || strings.Contains(got, "sql") {
				t.Errorf("body = %q, want %q…", got, tt.wantBody)
			}
			if got, want := w.Header().Get("Content-Type"), "application/json; charset=utf-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if logged := strings.Contains(logs.String(), "database is closed"); logged != tt.wantLog {
				t.Errorf("logged the detail: %v, want %v (log %q)", logged, tt.wantLog, logs.String())
			}
		})
	}
}

func TestInternalReference(t *testing.T) {
	t.Parallel()
	e, ref := Internal()
	if len(ref) != 8 || !strings.Contains(e.Message, "reference "+ref+".") || e.Status != 500 || e.Code != "internal" {
		t.Errorf("Internal() = %+v, %q", e, ref)
	}
	if _, ref2 := Internal(); ref2 == ref {
		t.Errorf("two references are both %q", ref)
	}
}

func TestIndentedJSON(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	IndentedJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	if got, want := w.Body.String(), "{\n  \"status\": \"ok\"\n}\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}
