package diff

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMaskSecretKeepsKeysAndShowsADigestOfEachValue(t *testing.T) {
	// "aHVudGVyMg==" is "hunter2" in base64, so both digest alike.
	hunter2 := "***sha256:f52fbd32"
	tests := []struct {
		name     string
		in, want string
	}{
		{"data is digested decoded",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, data: {password: aHVudGVyMg==, user: YWRh}}",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, data: {password: '" + hunter2 + "', user: '***sha256:fdee430d'}}"},
		{"stringData is digested as written",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, stringData: {password: hunter2}}",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, stringData: {password: '" + hunter2 + "'}}"},
		{"data that is not base64 is digested as written",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, data: {password: hunter2}}",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, data: {password: '" + hunter2 + "'}}"},
		{"kubectl's last-applied copy is masked whole",
			`{apiVersion: v1, kind: Secret, metadata: {name: db, annotations: {kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"hunter2"}}', team: db}}}`,
			"{apiVersion: v1, kind: Secret, metadata: {name: db, annotations: {kubectl.kubernetes.io/last-applied-configuration: '***sha256:b5a30d1d', team: db}}}"},
		{"a Secret without values is as it was",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, type: Opaque}",
			"{apiVersion: v1, kind: Secret, metadata: {name: db}, type: Opaque}"},
		{"a ConfigMap is not masked",
			"{apiVersion: v1, kind: ConfigMap, metadata: {name: db}, data: {password: hunter2}}",
			"{apiVersion: v1, kind: ConfigMap, metadata: {name: db}, data: {password: hunter2}}"},
		{"a Secret kind of another group is not masked",
			"{apiVersion: vault.example.com/v1, kind: Secret, metadata: {name: db}, data: {path: kv/db}}",
			"{apiVersion: vault.example.com/v1, kind: Secret, metadata: {name: db}, data: {path: kv/db}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := object(t, tt.in)
			before := in.DeepCopy()
			got := MaskSecret(in)
			if d := cmp.Diff(object(t, tt.want).Object, got.Object); d != "" {
				t.Errorf("MaskSecret (-want +got):\n%s", d)
			}
			if d := cmp.Diff(before.Object, in.Object); d != "" {
				t.Errorf("MaskSecret changed its argument (-before +after):\n%s", d)
			}
		})
	}
	if MaskSecret(nil) != nil {
		t.Error("MaskSecret(nil) is not nil")
	}
}
