#pragma once
// ConnectionMadeListener: how a connector tells the factory of endpoint_connect that its protocol's
// connection_made has run (Twisted's endpoints learn it by wrapping the protocol; weft's connectors say it).

#include "weft/connector.hpp"

namespace weft::detail {

/// Implemented by a ClientFactory that must know when the attempt's protocol is connected. The connector
/// calls connection_made(connector) right after the protocol's connection_made, before its first
/// data_received, and only if the connection is still up.
class ConnectionMadeListener {
public:
    virtual ~ConnectionMadeListener() = default;
    virtual void connection_made(Connector& connector) = 0;

protected:
    ConnectionMadeListener() = default;
    ConnectionMadeListener(const ConnectionMadeListener&) = default;
    ConnectionMadeListener& operator=(const ConnectionMadeListener&) = default;
};

}  // namespace weft::detail
