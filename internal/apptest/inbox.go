package apptest

// DropConnections closes every open client connection of the instance (SSE streams
// included), as a network blip would; clients reconnect by themselves.
func (i *Instance) DropConnections() { i.server.CloseClientConnections() }
