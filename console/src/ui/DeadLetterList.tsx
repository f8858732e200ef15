/** Dead-lettered provisioning messages: why each was refused, and replay for the ones the operator picks. */
import { useState } from 'preact/hooks';
import { api, call } from '../api/client';
import { useAction, useResource } from './hooks';
import { ErrorBox, Loaded, n, Notice, Table, when } from './kit';

export function DeadLetterList(props: { customerId?: string }) {
  const list = useResource(() => call(api.GET('/api/dead-letters/user-provisioning', { params: { query: { top: '250' } } })), []);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const replay = useAction(async (ids: string[]) => {
    const r = await call(api.POST('/api/dead-letters/user-provisioning/replay', { body: { messageIds: ids } }));
    setPicked(new Set());
    list.reload();
    return r;
  });
  return (
    <>
      {replay.error ? <ErrorBox error={replay.error} /> : null}
      {replay.result ? (
        <Notice tone="ok">
          Replayed {n(replay.result.replayed.length)} message(s){replay.result.notFound.length ? `; ${replay.result.notFound.length} no longer dead-lettered` : ''}.
        </Notice>
      ) : null}
      <Loaded resource={list} what="dead letters" empty={(d) => mine(d.messages, props.customerId).length === 0} emptyText="No dead-lettered provisioning message.">
        {(d) => {
          const messages = mine(d.messages, props.customerId);
          return (
            <>
              <div class="actions">
                <button type="button" class="primary" disabled={replay.busy || picked.size === 0} onClick={() => void replay.act([...picked])}>
                  Replay selected ({picked.size})
                </button>
              </div>
              <Table caption={`${n(messages.length)} dead-lettered messages`} head={['Pick', 'Message', 'Customer / user', 'Why', 'Enqueued', 'Deliveries']}>
                {messages.map((m) => {
                  const body = (m.body ?? {}) as { customerId?: string; userId?: string };
                  return (
                    <tr key={m.messageId}>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={`Pick ${m.messageId}`}
                          checked={picked.has(m.messageId)}
                          onChange={(e) => {
                            const next = new Set(picked);
                            if ((e.currentTarget as HTMLInputElement).checked) next.add(m.messageId);
                            else next.delete(m.messageId);
                            setPicked(next);
                          }}
                        />
                      </td>
                      <td class="small">
                        <code>{m.messageId}</code>
                      </td>
                      <td class="small">
                        {body.customerId ?? '—'} / {body.userId ?? '—'}
                      </td>
                      <td class="small">{m.handlerReason ?? m.deadLetterErrorDescription ?? m.deadLetterReason ?? '—'}</td>
                      <td>{when(m.enqueuedAt)}</td>
                      <td class="num">{m.deliveryCount ?? '—'}</td>
                    </tr>
                  );
                })}
              </Table>
            </>
          );
        }}
      </Loaded>
    </>
  );
}

function mine<T extends { body?: unknown }>(messages: T[], customerId: string | undefined): T[] {
  if (!customerId) return messages;
  return messages.filter((m) => (m.body as { customerId?: unknown } | null)?.customerId === customerId);
}
