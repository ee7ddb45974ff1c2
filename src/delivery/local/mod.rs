//! local(8): aliases, mbox and Maildir delivery for $mydestination.
