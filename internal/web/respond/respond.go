// Package respond owns how membersync's HTTP handlers answer in JSON: the headers every JSON answer
// carries, the error body (a machine code and a sentence a person can act on), and Error, the one
// error type whose message is safe to show. Any other error is answered as a 500 whose detail goes
// only to the log. The web, admin and status handlers share it.
package respond

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// JSON writes v as the JSON body of an answer with the status, not to be cached.
func JSON(w http.ResponseWriter, status int, v any) {
	header(w, status)
	_ = json.NewEncoder(w).Encode(v)
}

// IndentedJSON is JSON with the body indented by two spaces, for answers people read as they come
// (the admin API).
func IndentedJSON(w http.ResponseWriter, status int, v any) {
	header(w, status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func header(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// Error is an error whose message is safe to show: the HTTP status to answer, a machine code and a
// sentence a person can act on. Every other error is a 500 whose detail goes only to the log.
type Error struct {
	Status  int    // the HTTP status, such as 404
	Code    string // the machine code, such as "not_found"
	Message string // shown as it is
}

// NewError returns the Error with the status, code and message.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

func (e *Error) Error() string { return e.Message }

// ErrorBody is every JSON error membersync answers: a machine code and a sentence a person can act on.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Body returns e as the JSON body of its answer.
func (e *Error) Body() ErrorBody { return ErrorBody{Error: e.Code, Message: e.Message} }

// Write answers e in JSON: its status, and its code and message as the body.
func (e *Error) Write(w http.ResponseWriter) { JSON(w, e.Status, e.Body()) }

// Internal returns the answer to an error that is not safe to show: a 500 whose message gives ref,
// a fresh reference under which the caller logs the error's detail.
func Internal() (e *Error, ref string) {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	ref = hex.EncodeToString(b)
	return NewError(http.StatusInternalServerError, "internal", "Something went wrong. The server log has the details under reference "+ref+"."), ref
}

// WriteError answers err in JSON: the *Error in err's chain with its status, code and message; any
// other error as Internal's 500, after logging err on log with the reference and r's method and path.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		var ref string
		e, ref = Internal()
		log.Error("request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	e.Write(w)
}
