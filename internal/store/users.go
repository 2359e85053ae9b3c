package store

import (
	"context"
	"time"
)

// User is an operator or admin.
type User struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	Role           string    `json:"role"`
	PasswordHash   string    `json:"-"`
	Active         bool      `json:"active"`
	Locale         string    `json:"locale"`
	Status         string    `json:"status"`
	Capacity       int       `json:"capacity"`
	CreatedAt      time.Time `json:"created_at"`
	Online         bool      `json:"online"` // status online and a stream open (computed)
	OpenDialogs    int       `json:"open_dialogs"`
	DepartmentIDs  []int64   `json:"department_ids"`
	LastAssignedAt time.Time `json:"-"`
}

const userCols = `u.id, u.email, u.name, u.role, u.password_hash, u.active, u.locale, u.status, u.capacity, u.created_at, u.last_assigned_at`

func scanUser(row interface{ Scan(...any) error }, u *User) error {
	return row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Active, &u.Locale, &u.Status, &u.Capacity, &u.CreatedAt, &u.LastAssignedAt)
}

// CreateUser inserts a user; ErrConflict when the email is taken (case-insensitively).
func CreateUser(ctx context.Context, db DB, u *User) error {
	if u.Capacity == 0 {
		u.Capacity = 10
	}
	err := db.QueryRow(ctx, `INSERT INTO users (email, name, role, password_hash, active, locale, capacity)
		VALUES ($1, $2, $3, $4, true, $5, $6) RETURNING id, created_at, active, status`,
		u.Email, u.Name, u.Role, u.PasswordHash, u.Locale, u.Capacity).Scan(&u.ID, &u.CreatedAt, &u.Active, &u.Status)
	if err != nil {
		return notFound(err, "create user")
	}
	return nil
}

// UserByEmail finds a user by email, case-insensitively.
func UserByEmail(ctx context.Context, db DB, email string) (User, error) {
	var u User
	err := scanUser(db.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE lower(u.email) = lower($1)`, email), &u)
	if err != nil {
		return u, notFound(err, "user by email")
	}
	return u, nil
}

// UserByID finds a user.
func UserByID(ctx context.Context, db DB, id int64) (User, error) {
	var u User
	err := scanUser(db.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id), &u)
	if err != nil {
		return u, notFound(err, "user")
	}
	return u, nil
}

// ListUsers returns every user with presence, open-dialog counts and departments.
func ListUsers(ctx context.Context, db DB) ([]User, error) {
	rows, err := db.Query(ctx, `SELECT `+userCols+`,
		(u.status = 'online' AND EXISTS (SELECT 1 FROM presence p WHERE p.user_id = u.id AND p.connections > 0 AND p.seen_at > now() - interval '`+PresenceTTL+`')),
		(SELECT count(*) FROM dialogs d WHERE d.assignee_id = u.id AND d.status = 'open'),
		coalesce((SELECT array_agg(department_id ORDER BY department_id) FROM department_members m WHERE m.user_id = u.id), '{}')
		FROM users u ORDER BY u.name, u.id`)
	if err != nil {
		return nil, notFound(err, "list users")
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Active, &u.Locale, &u.Status, &u.Capacity, &u.CreatedAt, &u.LastAssignedAt,
			&u.Online, &u.OpenDialogs, &u.DepartmentIDs); err != nil {
			return nil, notFound(err, "scan user")
		}
		out = append(out, u)
	}
	return out, notFoundOrNil(rows.Err(), "list users")
}

// UserUpdate holds the fields an update may change; nil = unchanged.
type UserUpdate struct {
	Name         *string
	Role         *string
	Active       *bool
	Locale       *string
	Status       *string
	Capacity     *int
	PasswordHash *string
}

// UpdateUser applies u to the user.
func UpdateUser(ctx context.Context, db DB, id int64, u UserUpdate) error {
	tag, err := db.Exec(ctx, `UPDATE users SET
		name = coalesce($2, name), role = coalesce($3, role), active = coalesce($4, active),
		locale = coalesce($5, locale), status = coalesce($6, status), capacity = coalesce($7, capacity),
		password_hash = coalesce($8, password_hash), updated_at = now()
		WHERE id = $1`, id, u.Name, u.Role, u.Active, u.Locale, u.Status, u.Capacity, u.PasswordHash)
	if err != nil {
		return notFound(err, "update user")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "update user")
	}
	return nil
}

func notFoundOrNil(err error, what string) error {
	if err == nil {
		return nil
	}
	return notFound(err, what)
}

// UserDepartments lists the departments a user belongs to.
func UserDepartments(ctx context.Context, db DB, userID int64) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT department_id FROM department_members WHERE user_id = $1`, userID)
	if err != nil {
		return nil, notFound(err, "user departments")
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, notFound(err, "scan department")
		}
		ids = append(ids, id)
	}
	return ids, notFoundOrNil(rows.Err(), "user departments")
}

// CountUsers counts every user (the server's start message says how to create the first).
func CountUsers(ctx context.Context, db DB) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}
