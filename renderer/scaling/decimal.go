package scaling

import (
	"math/bits"
	"strconv"
	"strings"
)

// ceilProductSmall is ceilProduct in 64-bit integers: each term's shortest
// decimal form is a whole number of units of 10^-k, so their product is
// the product of those whole numbers over 10^(sum of the k). It reports
// false when a term has no decimal form or too many digits, or when the
// product or its divisor would overflow; ceilProduct then computes with
// big.Rat, which gives the same result whenever this does.
func ceilProductSmall(terms []term) (int64, bool) {
	var (
		num  uint64 = 1
		neg  bool
		frac int
	)
	for _, t := range terms {
		m, k, negative, ok := shortDecimal(t.value)
		if !ok {
			return 0, false
		}
		hi, lo := bits.Mul64(num, m)
		if hi != 0 {
			return 0, false
		}
		num, neg, frac = lo, neg != negative, frac+k
	}
	if frac > maxPow10 || num > 1<<63-1 {
		return 0, false
	}
	d := pow10[frac]
	q := int64(num / d)
	switch {
	case num == 0:
		return 0, true
	case neg:
		return -q, true // truncating a negative quotient rounds it up
	case num%d != 0:
		return q + 1, true
	}
	return q, true
}

// shortDecimal returns v's shortest decimal form, the one strconv prints,
// as m × 10^-k, with its sign apart.
func shortDecimal(v float64) (m uint64, k int, negative, ok bool) {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if s == "NaN" || strings.HasSuffix(s, "Inf") {
		return 0, 0, false, false
	}
	s, negative = strings.CutPrefix(s, "-")
	whole, fraction, _ := strings.Cut(s, ".")
	digits := strings.TrimLeft(whole+fraction, "0")
	if len(digits) > maxPow10 {
		return 0, 0, false, false
	}
	if digits != "" {
		n, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			return 0, 0, false, false
		}
		m = n
	}
	return m, len(fraction), negative, true
}

// maxPow10 is the largest power of ten pow10 holds, and so the most
// decimal digits a term may have.
const maxPow10 = 18

var pow10 = func() [maxPow10 + 1]uint64 {
	var p [maxPow10 + 1]uint64
	p[0] = 1
	for i := 1; i <= maxPow10; i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()
