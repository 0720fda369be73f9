#pragma once
// StandardIO: stdin/stdout as a weft transport (Twisted: twisted.internet.stdio.StandardIO). Placeholder.
