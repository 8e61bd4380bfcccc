package gitwrite

import (
	"bytes"
	"slices"
)

// maxMergeCells bounds the work of a line merge: the product of the changed
// regions' line counts. Config files are far below it; beyond it, the edit
// is reported as a conflict rather than merged slowly.
const maxMergeCells = 1 << 22

// merge3 merges the changes ours and theirs each made to base, line by
// line, as git merges text: changes to different lines combine, identical
// changes count once, and changes to the same or adjacent lines conflict
// (ok is false). Content with NUL bytes is not text and never merges.
func merge3(base, ours, theirs []byte) (merged []byte, ok bool) {
	if slices.Contains(base, 0) || slices.Contains(ours, 0) || slices.Contains(theirs, 0) {
		return nil, false
	}
	b, o, t := splitLines(base), splitLines(ours), splitLines(theirs)
	oh, ok := diffLines(b, o)
	if !ok {
		return nil, false
	}
	th, ok := diffLines(b, t)
	if !ok {
		return nil, false
	}
	var out [][]byte
	next := 0 // first line of base not yet copied
	apply := func(h hunk) {
		out = append(out, b[next:h.start]...)
		out = append(out, h.lines...)
		next = h.end
	}
	for len(oh) > 0 || len(th) > 0 {
		switch {
		case len(th) == 0:
			apply(oh[0])
			oh = oh[1:]
		case len(oh) == 0:
			apply(th[0])
			th = th[1:]
		case oh[0].equal(th[0]):
			apply(oh[0])
			oh, th = oh[1:], th[1:]
		case oh[0].touches(th[0]):
			return nil, false
		case oh[0].start < th[0].start:
			apply(oh[0])
			oh = oh[1:]
		default:
			apply(th[0])
			th = th[1:]
		}
	}
	out = append(out, b[next:]...)
	return bytes.Join(out, nil), true
}

// hunk replaces the base lines [start, end) with lines.
type hunk struct {
	start, end int
	lines      [][]byte
}

func (h hunk) equal(o hunk) bool {
	return h.start == o.start && h.end == o.end && slices.EqualFunc(h.lines, o.lines, bytes.Equal)
}

// touches reports whether two hunks of different sides overlap or are
// adjacent, which git treats as one conflicting change.
func (h hunk) touches(o hunk) bool {
	return h.start <= o.end && o.start <= h.end
}

// splitLines splits text after each newline; the last line may lack one.
func splitLines(text []byte) [][]byte {
	var lines [][]byte
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n') + 1
		if i == 0 {
			i = len(text)
		}
		lines = append(lines, text[:i])
		text = text[i:]
	}
	return lines
}

// diffLines returns the hunks turning base into other, from a longest
// common subsequence of lines, in base order. ok is false when the changed
// region is too large to diff.
func diffLines(base, other [][]byte) (hunks []hunk, ok bool) {
	// Common prefix and suffix are unchanged: diff only what lies between.
	pre := 0
	for pre < len(base) && pre < len(other) && bytes.Equal(base[pre], other[pre]) {
		pre++
	}
	suf := 0
	for suf < len(base)-pre && suf < len(other)-pre && bytes.Equal(base[len(base)-1-suf], other[len(other)-1-suf]) {
		suf++
	}
	b, o := base[pre:len(base)-suf], other[pre:len(other)-suf]
	if len(b)*len(o) > maxMergeCells {
		return nil, false
	}
	// lcs[i][j] is the length of the longest common subsequence of b[i:]
	// and o[j:].
	lcs := make([][]int32, len(b)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(o)+1)
	}
	for i := len(b) - 1; i >= 0; i-- {
		for j := len(o) - 1; j >= 0; j-- {
			if bytes.Equal(b[i], o[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	cur := hunk{start: -1}
	flush := func() {
		if cur.start >= 0 {
			cur.end = pre + i
			hunks = append(hunks, cur)
			cur = hunk{start: -1}
		}
	}
	for i < len(b) || j < len(o) {
		switch {
		case i < len(b) && j < len(o) && bytes.Equal(b[i], o[j]):
			flush()
			i, j = i+1, j+1
			continue
		case cur.start < 0:
			cur.start = pre + i
		}
		if j < len(o) && (i == len(b) || lcs[i][j+1] >= lcs[i+1][j]) {
			cur.lines = append(cur.lines, o[j])
			j++
		} else {
			i++
		}
	}
	flush()
	return hunks, true
}
