package main

import (
	"slices"
	"strings"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	app := newApp(&GlobalOptions{})
	tests := []struct{ in, want string }{
		{"ferry", "ferry"},
		{"ferry help status", "ferry help status"}, // help is added by the library when it runs
		{"ferry status checkout", "ferry status -- checkout"},
		{"ferry status checkout --version 1.4.2 --watch", "ferry status --version 1.4.2 --watch -- checkout"},
		{"ferry status checkout -o json", "ferry -o json status -- checkout"},
		{"ferry --address a:1 approve checkout --env production --address=b:2 --reason ok",
			"ferry --address a:1 --address=b:2 approve --env production --reason ok -- checkout"},
		{"ferry validate -- -odd-name.yaml", "ferry validate -- -odd-name.yaml"},
		{"ferry status checkout --help", "ferry status --help"},
		{"ferry frobnicate --x", "ferry frobnicate --x"},
		{"ferry list --bogus value", "ferry list --bogus -- value"},
	}
	for _, tt := range tests {
		got := strings.Join(reorderArgs(app, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
	in := []string{"ferry", "start", "--version", "1.0"}
	if got := reorderArgs(app, in); !slices.Equal(got, []string{"ferry", "start", "--version", "1.0", "--"}) {
		t.Errorf("start --version: got %v", got)
	}
}
