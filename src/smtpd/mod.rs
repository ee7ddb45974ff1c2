//! smtpd(8): the SMTP server.
