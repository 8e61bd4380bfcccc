package clusters

import (
	"bytes"
	"encoding/json"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventReader decodes the events of a watch stream one at a time, and
// holds no buffer while it waits for the next: a JSON decoder keeps one
// as large as the largest event it read, for as long as the stream is
// open, which for the watches of every kind of every site of a fleet
// is most of the time.
type eventReader struct {
	body io.Reader
	// events decodes what is in hand; nil while nothing is.
	events *json.Decoder
}

// next decodes the next event into event, waiting for it.
func (r *eventReader) next(event *metav1.WatchEvent) error {
	if r.events == nil {
		first := make([]byte, 1)
		if _, err := io.ReadFull(r.body, first); err != nil {
			return err
		}
		r.events = json.NewDecoder(io.MultiReader(bytes.NewReader(first), r.body))
	}
	if err := r.events.Decode(event); err != nil {
		return err
	}
	// The decoder read ahead: what it holds beyond the event is the
	// events that came with it, or only the newline that ends it.
	rest, _ := io.ReadAll(r.events.Buffered())
	if len(bytes.TrimSpace(rest)) == 0 {
		r.events = nil
	}
	return nil
}
