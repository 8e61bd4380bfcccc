package clusters

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEventReaderDecodesEventsHoweverTheStreamCutsThem(t *testing.T) {
	const stream = `{"type":"ADDED","object":{"metadata":{"name":"a"}}}
{"type":"MODIFIED","object":{"metadata":{"name":"b"}}}
{"type":"DELETED","object":{"metadata":{"name":"c"}}}` + "\n"
	for name, body := range map[string]io.Reader{
		"at once":        strings.NewReader(stream),
		"byte by byte":   iotest.OneByteReader(strings.NewReader(stream)),
		"half at a time": iotest.HalfReader(strings.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			r := eventReader{body: body}
			var got []string
			for {
				var event metav1.WatchEvent
				err := r.next(&event)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, event.Type+" "+string(event.Object.Raw))
			}
			want := []string{
				`ADDED {"metadata":{"name":"a"}}`,
				`MODIFIED {"metadata":{"name":"b"}}`,
				`DELETED {"metadata":{"name":"c"}}`,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestEventReaderHoldsNothingBetweenEventsThatCameApart(t *testing.T) {
	body, w := io.Pipe()
	go func() {
		w.Write([]byte(`{"type":"ADDED","object":{}}` + "\n"))
		w.Write([]byte(`{"type":"MODIFIED","object":{}}` + "\n" + `{"type":"DELETED",`))
		w.Write([]byte(`"object":{}}` + "\n"))
		w.Close()
	}()
	r := eventReader{body: body}
	for _, want := range []struct {
		event   string
		holding bool
	}{{"ADDED", false}, {"MODIFIED", true}, {"DELETED", false}} {
		var event metav1.WatchEvent
		if err := r.next(&event); err != nil {
			t.Fatal(err)
		}
		if event.Type != want.event || (r.events != nil) != want.holding {
			t.Fatalf("got %s holding a decoder %t, want %s holding %t", event.Type, r.events != nil, want.event, want.holding)
		}
	}
	var event metav1.WatchEvent
	if err := r.next(&event); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v, want EOF", err)
	}
}

func TestEventReaderReportsAStreamCutInAnEvent(t *testing.T) {
	r := eventReader{body: strings.NewReader(`{"type":"ADDED","obj`)}
	var event metav1.WatchEvent
	if err := r.next(&event); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want an unexpected EOF", err)
	}
}
