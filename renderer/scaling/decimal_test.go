package scaling

import (
	"math"
	"testing"
)

// decimalValues are values that descriptors and sites give, and the edges
// of what the 64-bit computation takes.
var decimalValues = []float64{0, math.Copysign(0, -1), 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 7.3, 30, 0.3333, 1e-9, 123456.789,
	1e15, 999999999999999999, 1e18, 1e21, 5e-324, -0.5, -3, math.MaxFloat64, math.Inf(1), math.NaN()}

func TestCeilProductSmallAgreesWithBigRat(t *testing.T) {
	for _, a := range decimalValues {
		for _, b := range decimalValues {
			for _, c := range decimalValues {
				terms := []term{{"a", a}, {"b", b}, {"c", c}}
				n, ok := ceilProductSmall(terms)
				if !ok {
					continue
				}
				if want := ceilProductRat(terms); !want.IsInt64() || want.Int64() != n {
					t.Errorf("ceil(%v × %v × %v) = %d, big.Rat says %v", a, b, c, n, want)
				}
			}
		}
	}
}

func TestCeilProductSmallIsExactOnDecimals(t *testing.T) {
	tests := []struct {
		terms []float64
		want  int64
	}{
		{[]float64{30, 0.1}, 3}, // 4 in float64
		{[]float64{3, 0.5, 1.5}, 3},
		{[]float64{3, 0.5, 2}, 3},
		{[]float64{7.3, 10}, 73},
		{[]float64{0.3333, 3}, 1},
		{[]float64{-1.5}, -1},
		{[]float64{}, 1},
	}
	for _, tt := range tests {
		terms := make([]term, len(tt.terms))
		for i, v := range tt.terms {
			terms[i] = term{"t", v}
		}
		if n, ok := ceilProductSmall(terms); !ok || n != tt.want {
			t.Errorf("ceilProductSmall(%v) = %d, %t; want %d", tt.terms, n, ok, tt.want)
		}
	}
}

func FuzzCeilProductSmall(f *testing.F) {
	f.Add(3.0, 0.5, 2.0)
	f.Add(30.0, 0.1, 1.0)
	f.Add(1e18, 0.5, -1.0)
	f.Fuzz(func(t *testing.T, a, b, c float64) {
		terms := []term{{"a", a}, {"b", b}, {"c", c}}
		n, ok := ceilProductSmall(terms)
		if !ok {
			return
		}
		if want := ceilProductRat(terms); !want.IsInt64() || want.Int64() != n {
			t.Fatalf("ceil(%v × %v × %v) = %d, big.Rat says %v", a, b, c, n, want)
		}
	})
}
