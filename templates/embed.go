// Package templates holds the example templates users copy, and embeds
// them so that mailshot init can write a starter kit from the binary alone.
package templates

import "embed"

// Announcement is the announcement template: message.txt, message.html
// and logo.png, under the directory "announcement".
//
//go:embed announcement/message.txt announcement/message.html announcement/logo.png
var Announcement embed.FS
