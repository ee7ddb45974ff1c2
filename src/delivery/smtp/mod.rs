//! smtp(8): the SMTP client delivery agent. (Interface; the implementation lands with the
//! relay issue.)
