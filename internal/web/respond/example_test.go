package respond_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/membersync/membersync/internal/web/respond"
)

func ExampleWriteError() {
	errNoteNeeded := respond.NewError(http.StatusBadRequest, "note_required", "Resolving needs a note saying what was done.")
	handler := func(w http.ResponseWriter, r *http.Request) {
		err := fmt.Errorf("resolving item 7: %w", errNoteNeeded)
		respond.WriteError(w, r, slog.Default(), err)
	}
	w := httptest.NewRecorder()
	handler(w, httptest.NewRequest("POST", "/admin/api/review/7/resolve", nil))
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 400 {"error":"note_required","message":"Resolving needs a note saying what was done."}
}
