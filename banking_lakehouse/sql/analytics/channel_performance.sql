-- Channel performance: volume, value, ticket size, failure and international shares per channel.
SELECT channel,
       count(*)                                                               AS transactions,
       sum(amount_usd)                                                        AS amount_usd,
       round(avg(amount_usd), 2)                                              AS avg_ticket_usd,
       round(count(*) FILTER (WHERE status = 'failed')::numeric / count(*), 4)  AS failure_rate,
       round(count(*) FILTER (WHERE is_international)::numeric / count(*), 4) AS international_share,
       round(count(*)::numeric / sum(count(*)) OVER (), 4)                    AS share_of_transactions
FROM gold.fact_transactions
GROUP BY channel
ORDER BY transactions DESC, channel ASC;
