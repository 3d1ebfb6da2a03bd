-- +goose Up
-- The IRC module's message links take the remote IDs every module uses
-- (bridges.MessageID): an IRC msgid is its own ID, no longer
-- "msgid:<msgid>", and a line before the last of a Matrix message sent as
-- several IRC lines is part 1 of its msgid ("<msgid>", a tab, "1"), no
-- longer "sentline:<msgid>". Outbox items still pending, which link the
-- IRC message they carry on delivery, name it the new way too.
UPDATE message_link SET remote_id = substr(remote_id, 7)
    WHERE module = 'irc' AND left(remote_id, 6) = 'msgid:';
UPDATE message_link SET remote_id = substr(remote_id, 10) || chr(9) || '1'
    WHERE module = 'irc' AND left(remote_id, 9) = 'sentline:';
UPDATE outbox SET payload = convert_to(replace(convert_from(payload, 'UTF8'),
        '"link_module":"irc","link_remote":"msgid:', '"link_module":"irc","link_remote":"'), 'UTF8')
    WHERE state = 0 AND position(convert_to('"link_module":"irc","link_remote":"msgid:', 'UTF8') IN payload) > 0;

-- +goose Down
-- Parts other than 0 all become "sentline:" links again.
UPDATE message_link SET remote_id = 'msgid:' || remote_id
    WHERE module = 'irc' AND strpos(remote_id, chr(9)) = 0;
UPDATE message_link SET remote_id = 'sentline:' || split_part(remote_id, chr(9), 1)
    WHERE module = 'irc' AND strpos(remote_id, chr(9)) > 0;
UPDATE outbox SET payload = convert_to(replace(convert_from(payload, 'UTF8'),
        '"link_module":"irc","link_remote":"', '"link_module":"irc","link_remote":"msgid:'), 'UTF8')
    WHERE state = 0 AND position(convert_to('"link_module":"irc","link_remote":"', 'UTF8') IN payload) > 0;
