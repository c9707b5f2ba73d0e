//! AMQP 0-9-1 wire layer over lapin: a supervised connection, topology declaration, a confirmed publisher and a consumer.
#![forbid(unsafe_code)]
