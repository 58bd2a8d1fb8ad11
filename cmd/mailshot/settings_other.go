//go:build !unix

package main

import "os"

// checkSettingsOwner accepts every settings file where file ownership is
// not Unix's.
func checkSettingsOwner(*os.File) error { return nil }
