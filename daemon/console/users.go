package console

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Role says what a user may do.
type Role string

const (
	// Viewer may read every page.
	Viewer Role = "viewer"
	// Operator may also change a solution's scale and revert commits.
	Operator Role = "operator"
)

// user is one line of a users file.
type user struct {
	name string
	hash []byte
	role Role
}

// Users are the people who may sign in, by name.
type Users map[string]user

// ReadUsers reads a users file: one user a line, "name:bcrypt-hash" as
// htpasswd -B writes it, optionally followed by ":operator" or ":viewer"
// (the default). Blank lines and lines starting with # are skipped. A hash
// that is not bcrypt, an unknown role or a name given twice is an error
// naming the line.
func ReadUsers(path string) (Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read console users: %w", err)
	}
	users := Users{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < 2 || len(fields) > 3 || fields[0] == "" {
			return nil, fmt.Errorf("%s:%d: want name:bcrypt-hash[:role]", path, n)
		}
		u := user{name: fields[0], hash: []byte(fields[1]), role: Viewer}
		if _, err := bcrypt.Cost(u.hash); err != nil {
			return nil, fmt.Errorf("%s:%d: user %s: the password hash is not bcrypt (make it with htpasswd -nB %s): %v", path, n, u.name, u.name, err)
		}
		if len(fields) == 3 {
			switch Role(fields[2]) {
			case Viewer, Operator:
				u.role = Role(fields[2])
			default:
				return nil, fmt.Errorf("%s:%d: user %s: role %q must be %q or %q", path, n, u.name, fields[2], Viewer, Operator)
			}
		}
		if _, dup := users[u.name]; dup {
			return nil, fmt.Errorf("%s:%d: user %s is listed twice", path, n, u.name)
		}
		users[u.name] = u
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, nil
}

// check returns the user if password is theirs.
func (us Users) check(name, password string) (user, bool) {
	u, ok := us[name]
	if !ok {
		// Spend the time a real check would, so that timing does not tell
		// which names exist.
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return user{}, false
	}
	return u, bcrypt.CompareHashAndPassword(u.hash, []byte(password)) == nil
}

// role returns the role of a user a proxy vouched for: as the users file
// says, or Viewer for a user it does not list.
func (us Users) role(name string) Role {
	if u, ok := us[name]; ok {
		return u.role
	}
	return Viewer
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("tandem"), bcrypt.DefaultCost)
