// The server's API (chat messages, JSON values, API errors) is defined by the validation layer.
@_exported import APIRequests
