package main

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/dynamodb"
)

// Suppression is one suppressed address of an account (emails are stored lower-cased).
type Suppression struct {
	AccountID string
	Email     string
	Reason    string
	CreatedAt time.Time
}

// ErrorKind says which gRPC status / HTTP status an error maps to.
type ErrorKind int

const (
	// Invalid is a bad argument (INVALID_ARGUMENT, 400).
	Invalid ErrorKind = iota
	// NotFound is a missing suppression (NOT_FOUND, 404).
	NotFound
)

// ServiceError is an error the caller caused, with its kind.
type ServiceError struct {
	Kind    ErrorKind
	Message string
}

func (e *ServiceError) Error() string { return e.Message }

func invalid(msg string) error { return &ServiceError{Invalid, msg} }

var accountRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const defaultPageSize = 50

func checkAccount(account string) error {
	if !accountRe.MatchString(account) {
		return invalid("account_id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

func normaliseEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	at := strings.LastIndex(email, "@")
	if len(email) > 254 || at < 1 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n") {
		return "", invalid("email must be an address like name@example.com (at most 254 characters)")
	}
	return email, nil
}

// Store keeps suppressions in one DynamoDB table (hash key account_id, range key email).
type Store struct {
	db    *dynamodb.DynamoDB
	table string
}

// NewStore connects to DynamoDB (endpoint may be empty for AWS) and creates the table when missing.
func NewStore(endpoint, table string) (*Store, error) {
	cfg := aws.NewConfig().WithMaxRetries(3)
	if endpoint != "" {
		cfg = cfg.WithEndpoint(endpoint)
	}
	sess, err := session.NewSession(cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{db: dynamodb.New(sess), table: table}
	return s, s.ensureTable()
}

func (s *Store) ensureTable() error {
	_, err := s.db.DescribeTable(&dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	if err == nil {
		return nil
	}
	var aerr awserr.Error
	if !errors.As(err, &aerr) || aerr.Code() != dynamodb.ErrCodeResourceNotFoundException {
		return err
	}
	_, err = s.db.CreateTable(&dynamodb.CreateTableInput{
		TableName:   aws.String(s.table),
		BillingMode: aws.String(dynamodb.BillingModePayPerRequest),
		AttributeDefinitions: []*dynamodb.AttributeDefinition{
			{AttributeName: aws.String("account_id"), AttributeType: aws.String("S")},
			{AttributeName: aws.String("email"), AttributeType: aws.String("S")},
		},
		KeySchema: []*dynamodb.KeySchemaElement{
			{AttributeName: aws.String("account_id"), KeyType: aws.String("HASH")},
			{AttributeName: aws.String("email"), KeyType: aws.String("RANGE")},
		},
	})
	if err != nil && (!errors.As(err, &aerr) || aerr.Code() != dynamodb.ErrCodeResourceInUseException) {
		return err
	}
	return s.db.WaitUntilTableExists(&dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
}

func key(account, email string) map[string]*dynamodb.AttributeValue {
	return map[string]*dynamodb.AttributeValue{
		"account_id": {S: aws.String(account)},
		"email":      {S: aws.String(email)},
	}
}

func fromItem(item map[string]*dynamodb.AttributeValue) Suppression {
	millis, _ := strconv.ParseInt(aws.StringValue(item["created_at_ms"].N), 10, 64)
	reason := ""
	if v, ok := item["reason"]; ok {
		reason = aws.StringValue(v.S)
	}
	return Suppression{
		AccountID: aws.StringValue(item["account_id"].S),
		Email:     aws.StringValue(item["email"].S),
		Reason:    reason,
		CreatedAt: time.UnixMilli(millis).UTC(),
	}
}

// Add suppresses an address; an existing one is returned as it is, with created false.
func (s *Store) Add(account, email, reason string) (Suppression, bool, error) {
	if err := checkAccount(account); err != nil {
		return Suppression{}, false, err
	}
	email, err := normaliseEmail(email)
	if err != nil {
		return Suppression{}, false, err
	}
	if len(reason) > 512 {
		return Suppression{}, false, invalid("reason must be at most 512 characters")
	}
	rec := Suppression{account, email, reason, time.Now().UTC().Truncate(time.Millisecond)}
	item := key(account, email)
	item["reason"] = &dynamodb.AttributeValue{S: aws.String(reason)}
	item["created_at_ms"] = &dynamodb.AttributeValue{N: aws.String(strconv.FormatInt(rec.CreatedAt.UnixMilli(), 10))}
	_, err = s.db.PutItem(&dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(email)"),
	})
	var aerr awserr.Error
	if errors.As(err, &aerr) && aerr.Code() == dynamodb.ErrCodeConditionalCheckFailedException {
		existing, err := s.Get(account, email)
		return existing, false, err
	}
	return rec, err == nil, err
}

// Get returns one suppression, or a NotFound error.
func (s *Store) Get(account, email string) (Suppression, error) {
	if err := checkAccount(account); err != nil {
		return Suppression{}, err
	}
	email, err := normaliseEmail(email)
	if err != nil {
		return Suppression{}, err
	}
	out, err := s.db.GetItem(&dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(account, email), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Suppression{}, err
	}
	if out.Item == nil {
		return Suppression{}, &ServiceError{NotFound, email + " is not suppressed in account " + account}
	}
	return fromItem(out.Item), nil
}

// Delete removes a suppression, or returns a NotFound error.
func (s *Store) Delete(account, email string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	email, err := normaliseEmail(email)
	if err != nil {
		return err
	}
	out, err := s.db.DeleteItem(&dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(account, email), ReturnValues: aws.String("ALL_OLD"),
	})
	if err != nil {
		return err
	}
	if out.Attributes == nil {
		return &ServiceError{NotFound, email + " is not suppressed in account " + account}
	}
	return nil
}

// List returns one page of the account's suppressions in email order and the next page's token.
func (s *Store) List(account string, pageSize int, token string) ([]Suppression, string, error) {
	if err := checkAccount(account); err != nil {
		return nil, "", err
	}
	if pageSize == 0 {
		pageSize = defaultPageSize
	}
	if pageSize < 1 || pageSize > 100 {
		return nil, "", invalid("page_size must be 1-100 (0 means 50)")
	}
	input := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("account_id = :a"),
		ExpressionAttributeValues: map[string]*dynamodb.AttributeValue{":a": {S: aws.String(account)}},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int64(int64(pageSize)),
	}
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(after) == 0 {
			return nil, "", invalid("page_token is not a token this service returned")
		}
		input.ExclusiveStartKey = key(account, string(after))
	}
	out, err := s.db.Query(input)
	if err != nil {
		return nil, "", err
	}
	records := make([]Suppression, 0, len(out.Items))
	for _, item := range out.Items {
		records = append(records, fromItem(item))
	}
	next := ""
	if out.LastEvaluatedKey != nil && len(records) > 0 {
		next = base64.RawURLEncoding.EncodeToString([]byte(records[len(records)-1].Email))
	}
	return records, next, nil
}

// Export calls emit with every suppression of the account, in email order.
func (s *Store) Export(account string, emit func(Suppression) error) error {
	token := ""
	for {
		page, next, err := s.List(account, 100, token)
		if err != nil {
			return err
		}
		for _, rec := range page {
			if err := emit(rec); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		token = next
	}
}
