package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The credentials of a resource come from one base source, and may then
// be exchanged for a role's:
//
//   - the static keys (access_key_id, secret_access_key);
//   - a profile of the shared config and credentials files (profile);
//   - otherwise the default chain: the environment (AWS_ACCESS_KEY_ID...),
//     the shared files' default profile (or AWS_PROFILE's), web identity,
//     the container's or the instance's role;
//   - and, with role_arn, the role assumed with the base credentials (STS
//     AssumeRole), renewed before they expire.
//
// Static keys and a profile are two base sources: setting both is refused
// rather than one silently ignored.

// validateCredentials checks the credential attributes.
func (c Config) validateCredentials() error {
	switch {
	case (c.AccessKeyID == "") != (c.SecretAccessKey == ""):
		return sdk.AttributeError("access_key_id", "access_key_id and secret_access_key go together", "Set both for static keys, or neither to use a profile or the default AWS credential chain.")
	case c.Profile != "" && c.AccessKeyID != "":
		return sdk.AttributeError("profile", "cannot go with access_key_id and secret_access_key", "Static keys and a profile are two sources of credentials: set one. To assume a role with either, add role_arn.")
	case c.Profile != "" && strings.ContainsAny(c.Profile, "[] \t\r\n"):
		return sdk.AttributeError("profile", "must be a profile's name, without brackets or spaces", "")
	case c.RoleARN != "" && (!strings.HasPrefix(c.RoleARN, "arn:") || !strings.Contains(c.RoleARN, ":role/")):
		return sdk.AttributeError("role_arn", "must be the ARN of an IAM role, arn:aws:iam::ACCOUNT:role/NAME", "")
	case c.RoleARN == "" && c.RoleSessionName != "":
		return sdk.AttributeError("role_session_name", "needs role_arn", "")
	case c.RoleARN == "" && c.ExternalID != "":
		return sdk.AttributeError("external_id", "needs role_arn", "")
	case c.RoleSessionName != "" && !validRoleValue(c.RoleSessionName, 64, ""):
		return sdk.AttributeError("role_session_name", "must be 2 to 64 letters, digits or any of +=,.@_-", "")
	case c.ExternalID != "" && !validRoleValue(c.ExternalID, 1224, ":/"):
		return sdk.AttributeError("external_id", "must be 2 to 1224 letters, digits or any of +=,.@:/_-", "")
	}
	return nil
}

// validRoleValue reports whether s is what STS takes as a role session
// name (or, with ":/" more, an external ID): 2 to most characters of
// [\w+=,.@-] and more.
func validRoleValue(s string, most int, more string) bool {
	if len(s) < 2 || len(s) > most {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("+=,.@_-"+more, r):
		default:
			return false
		}
	}
	return true
}

// credentialOptions are the options of LoadDefaultConfig for the base
// credentials: the static keys, or the profile; none for the default
// chain.
func credentialOptions(cfg Config) []func(*awsconfig.LoadOptions) error {
	switch {
	case cfg.AccessKeyID != "":
		return []func(*awsconfig.LoadOptions) error{
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")),
		}
	case cfg.Profile != "":
		return []func(*awsconfig.LoadOptions) error{awsconfig.WithSharedConfigProfile(cfg.Profile)}
	}
	return nil
}

// loadError explains an error of LoadDefaultConfig: a profile that is in
// neither shared file is named, with the files looked in.
func loadError(name string, cfg Config, err error) error {
	var missing awsconfig.SharedConfigProfileNotExistError
	if errors.As(err, &missing) {
		files := "the shared config and credentials files"
		if len(missing.Filename) > 0 {
			files = strings.Join(missing.Filename, " and ")
		}
		return sdk.WrapError(sdk.KindFailedPrecondition, err, fmt.Sprintf("s3 resource %s: profile %q is in neither of %s; "+
			"the plugin reads the files AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name, else ~/.aws/config and ~/.aws/credentials, "+
			"with the environment its plugin block gives it", name, cfg.Profile, files))
	}
	what := "loading the AWS configuration"
	if cfg.Profile != "" {
		what += fmt.Sprintf(" of profile %q", cfg.Profile)
	}
	return sdk.WrapError(sdk.KindFailedPrecondition, err, "s3 resource "+name+": "+what)
}

// setCredentials sets awsCfg's credentials to role_arn's, assumed with
// the base credentials awsCfg has, when it is set, cached and renewed
// roleRenewal before they expire; and marks the errors of getting
// credentials (credentialsError).
// STS is AWS's (endpoint is S3's alone), or the one AWS_ENDPOINT_URL_STS
// names.
func setCredentials(awsCfg *aws.Config, name string, cfg Config) {
	what := "getting credentials from " + credentialSource(cfg)
	provider := awsCfg.Credentials
	if cfg.RoleARN != "" {
		session := cfg.RoleSessionName
		if session == "" {
			session = sessionName(name)
		}
		provider = stscreds.NewAssumeRoleProvider(sts.NewFromConfig(*awsCfg), cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if cfg.ExternalID != "" {
				o.ExternalID = aws.String(cfg.ExternalID)
			}
		})
		what = "assuming role " + cfg.RoleARN + " with " + credentialSource(cfg)
	}
	if provider == nil {
		return
	}
	awsCfg.Credentials = aws.NewCredentialsCache(markedProvider{provider: provider, what: what}, func(o *aws.CredentialsCacheOptions) {
		if cfg.RoleARN != "" {
			// Renewed before the calls that need them fail.
			o.ExpiryWindow = roleRenewal
		}
	})
}

// roleRenewal is how long before they expire an assumed role's
// credentials are renewed.
const roleRenewal = 5 * time.Minute

// credentialSource says where cfg's base credentials come from.
func credentialSource(cfg Config) string {
	switch {
	case cfg.AccessKeyID != "":
		return "the static keys"
	case cfg.Profile != "":
		return fmt.Sprintf("profile %q", cfg.Profile)
	}
	return "the default chain (environment, shared files, web identity, container or instance role)"
}

// sessionName is the default role session name of a resource:
// "nebula-" and its name, in the characters STS takes.
func sessionName(resource string) string {
	b := []byte("nebula-")
	for _, r := range resource {
		if !validRoleValue("xx"+string(r), 64, "") {
			r = '-'
		}
		b = append(b, byte(r)) // ASCII, or replaced
	}
	return string(b[:min(len(b), 64)])
}

// markedProvider marks the errors of getting credentials, which reach
// the caller inside the error of the S3 call that needed them, and says
// where they came from.
type markedProvider struct {
	provider aws.CredentialsProvider
	what     string
}

func (p markedProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.provider.Retrieve(ctx)
	if err != nil {
		return c, &credentialsError{what: p.what, err: err}
	}
	return c, nil
}

// credentialsError is an error of getting the credentials: the backend
// was not asked yet.
type credentialsError struct {
	what string // getting credentials from ..., assuming role ...
	err  error
}

func (e *credentialsError) Error() string { return e.what + ": " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }
