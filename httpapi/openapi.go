package httpapi

import _ "embed"

// openAPI is the OpenAPI 3.1 document of the API, served at /openapi.json
// (a test checks every route's real responses against it).
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }
