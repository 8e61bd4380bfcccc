package diff

import (
	"encoding/json"
	"io"
)

// WriteJSON writes r as indented JSON, for programs: a bot that words its
// own comment, or a policy check that refuses some changes.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
